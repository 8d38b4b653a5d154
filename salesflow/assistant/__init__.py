"""Product features built on the AI gateway (chat with the AI coach), beside it rather than inside it."""
