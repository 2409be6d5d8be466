"""Runs scim2-tester's checks against a SCIM server and fails on any that fails.

    scim-compliance.py BASE_URL TOKEN

Prints every check with its status; exits 1 when a check ends in ERROR or CRITICAL (a MUST
of the RFCs broken) or DEVIATION (a SHOULD), 0 otherwise. Checks of features the server's
ServiceProviderConfig does not declare are skipped by scim2-tester itself.
"""

import sys

import httpx2 as httpx
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

FAILING = {Status.ERROR, Status.CRITICAL, Status.DEVIATION}


def main() -> int:
    url, token = sys.argv[1], sys.argv[2]
    http = httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    client = SyncSCIMClient(http)
    client.discover()
    results = check_server(client)
    failed = 0
    for r in results:
        mark = "FAIL" if r.status in FAILING else "ok"
        print(f"{mark:4} {r.status.name:10} {r.title}: {r.reason or ''}")
        if r.status in FAILING:
            failed += 1
            if r.data is not None:
                print(f"       {str(r.data)[:500]}")
    passed = len(results) - failed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
