"""Adapters: implementations of the core's ports, one package per family."""
