"""visit-counter: a Falcon API counting visits per replica in MariaDB."""
