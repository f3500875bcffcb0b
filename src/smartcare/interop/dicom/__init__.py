"""DICOM: STOW-RS and page uploads, the study index, frame rendering, DICOMweb (Orthanc) reads."""
