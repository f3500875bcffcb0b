"""Reports to patients: final lab and imaging reports in the portal inbox, critical values to the doctor."""
