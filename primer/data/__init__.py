"""Datasets used by the course notebooks.

Every loader works offline, documents its columns and units, checks what it
loads (shape and, for packaged files, a hash) and raises a clear error that
says what to do when something is missing. Simulated datasets say so in their
docstring and in the notebook that uses them.
"""
