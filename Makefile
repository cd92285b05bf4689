# The two commands the README promises.
.PHONY: test quickstart

## Install everything the tests need (Debian packages, Go-built cluster components,
## Python packages) and run the whole test suite.
test:
	bash tests/env/run-tests.sh $(ARGS)

## Run the quickstart ThymeRun end to end on CPU (synthetic data, tiny model, local
## store under ./thyme-artifacts); installs what it needs first.
quickstart:
	bash examples/quickstart.sh
