"""laadplan: plan and monitor public EV charging infrastructure for NAL-regio Zuidwest.

Data flows one way: sources -> ingest (parse, validate, quarantine) -> store -> analyses -> outputs.
"""

__version__ = "0.1.0"
