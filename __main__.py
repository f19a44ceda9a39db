"""Pulumi program entry point (`runtime: python` runs this file): build the stack's strategy."""

from stacks.program import main

main()
