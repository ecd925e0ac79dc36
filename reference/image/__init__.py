"""Image helpers of the STAIG reference: window geometry, patch cutting, filter, encoder."""
