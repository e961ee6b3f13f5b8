"""Manual balance adjustments with maker–checker (docs/staff.md, "Adjustments")."""
