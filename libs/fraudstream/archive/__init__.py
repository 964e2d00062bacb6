"""``fraudstream archive``: the process that copies ``transactions.scored`` and
``labels`` from Kafka into the Parquet lake (:mod:`fraudstream.lake`)."""
