"""BPMN models checked against the catalog: as they are, and across an upgrade.

validate.py  service tasks checked against the catalog: commands, parameters, caught error codes (defusedxml)
upgrade.py   what upgrading from one catalog to another breaks in models; catalog export's shape
"""
