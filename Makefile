# The two commands a newcomer needs: `make demo` and `make test`.
# Both install what they need first (scripts/setup is idempotent).

CARGO ?= cargo


.PHONY: demo test setup fmt lint unit build bench

demo: setup build
	scripts/demo

test: setup fmt lint unit

setup:
	scripts/setup

build:
	$(CARGO) build --workspace --bins

fmt:
	$(CARGO) fmt --all --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

bench: setup
	@for b in bench/*; do [ -x "$$b" ] && "$$b"; done
