"""The account × month core every analysis stands on: periods (:mod:`.periods`), the MRR cube
and movement ledger (:mod:`.ledger`), dated CS activity on the month grid (:mod:`.activity`),
point-in-time event lookups (:mod:`.timeline`), segments (:mod:`.segments`) and churn outcomes
(:mod:`.outcomes`)."""
