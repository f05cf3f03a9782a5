"""PicPayGo's framework-free core: domain model, ports, errors and use cases."""
