"""Reports leaders hand on: ledger, charts, scorecard, bulletin and calendar feeds."""
