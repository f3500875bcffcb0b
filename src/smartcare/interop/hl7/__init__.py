"""HL7 v2 interface: MLLP listener and HTTP endpoint for ADT^A01/A04/A08 and ORU^R01."""
