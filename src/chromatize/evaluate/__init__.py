"""`chromatize evaluate`: scores against colour truth (`run`), practical images (`practical`), the report."""
