# Sourced by the hook scripts: reads the host's /etc/slipway/stack.env and
# defines `step`, which runs a built-in step of slipway-agent.
#
# The hooks drive Supervisor over its socket and start nothing themselves:
# a daemon started from a hook (`gunicorn --daemon`, `celery multi`) keeps the
# hook's stdout/stderr open and the event ends with OutputsLeftOpen.
stack_env=${SLIPWAY_STACK_ENV:-/etc/slipway/stack.env}
if [ ! -r "$stack_env" ]; then
  echo "${LIFECYCLE_EVENT:-hook}: $stack_env not found: the Django-stack steps are not configured on this host"
  exit 0
fi
set -a
. "$stack_env"
set +a
release=${DEPLOYMENT_ID:?DEPLOYMENT_ID is set by the agent}
step() {
  echo "+ slipway-agent step $*"
  slipway-agent step "$@"
}
