"""Moved to primer.accounts (accounts and processes are not the hub's alone).

Kept only so that code not yet switched keeps importing; import from
primer.accounts in new code.
"""
from primer.accounts import (VALID_NAME, AccountError, CommandError, chown_tree,  # noqa: F401
                             ensure_group, ensure_user, processes_of, remove_group, remove_user,
                             require_root, run_as, user_environment)
