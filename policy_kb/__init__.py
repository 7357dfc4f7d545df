"""Knowledge base: service items (事项), enterprise policies (惠企政策), bundles (一件事) and search."""
