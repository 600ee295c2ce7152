"""civicpoints: civic points (文明积分) for counties and communities."""
