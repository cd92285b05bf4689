# The two commands the README promises.
.PHONY: test

## Install everything the tests need (Debian packages, Go-built cluster components,
## Python packages) and run the whole test suite.
test:
	bash tests/env/run-tests.sh $(ARGS)
