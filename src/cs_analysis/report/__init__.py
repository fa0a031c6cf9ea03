"""Reports: what the notebooks call (:mod:`.context`), number formatting (:mod:`.formatting`),
figures (:mod:`.plots`) and the papermill runner (:mod:`.runner`)."""
