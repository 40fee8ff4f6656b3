//! Integration-test harness for Sightline.
