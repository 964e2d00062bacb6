"""Online learning from delayed labels: model choices and prequential evaluation."""
