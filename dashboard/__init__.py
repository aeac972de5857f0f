"""Panel views of the order-flow screener: four embeddable tabs on one shared engine."""
