"""Engine tests share the accounts fixtures (users with roles in workspaces)."""

from tests.admin_api.conftest import people  # noqa: F401
