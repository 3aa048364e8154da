"""Reports leaders hand on: the ledger, charts, scorecards, bulletins and calendar feeds."""
