"""Altair chart builders: a tidy frame in, a chart out. They draw; they never compute statistics."""
