"""The course tooling: build starters and solutions from one source, check labs, grade a class."""
