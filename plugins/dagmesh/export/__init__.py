"""The mesh's contracts and products in open standards: ODCS data contracts, ODPS products."""
