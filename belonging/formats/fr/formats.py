# Canadian French (Office québécois de la langue française): 15 h 59, 9 h 05. Other formats come from Django's fr.
TIME_FORMAT = r"G \h i"
