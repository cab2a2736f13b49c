"""Grading tools around nbgrader: sandboxed, parallel autograding, staging, feedback and export."""
