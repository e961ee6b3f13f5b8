"""Provider-side simulators of the payment protocols (and an SMS gateway), for the embedded
default and the tests; off in production."""
