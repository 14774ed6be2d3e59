# Sourced by the hook scripts: reads the host's /etc/slipway/stack.env and
# defines `step`, which runs a built-in step of slipway-agent.
#
# The hooks drive Supervisor over its socket and start nothing themselves:
# a daemon started from a hook (`gunicorn --daemon`, `celery multi`) keeps the
# hook's stdout/stderr open and the event ends with OutputsLeftOpen.
stack_env=${SLIPWAY_STACK_ENV:-/etc/slipway/stack.env}
# A host without it fails the event rather than "deploying" without a reload:
# a release that never reached gunicorn must not be reported as Succeeded.
if [ ! -r "$stack_env" ]; then
  echo "${LIFECYCLE_EVENT:-hook}: $stack_env not found: this host's Django-stack settings are missing (copy appspec/config/stack.env there and fill it in)" >&2
  exit 1
fi
set -a
. "$stack_env"
set +a
release=${DEPLOYMENT_ID:?DEPLOYMENT_ID is set by the agent}
step() {
  echo "+ slipway-agent step $*"
  slipway-agent step "$@"
}
