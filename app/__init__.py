"""UI-only helpers for the cnnlib Studio Streamlit app.

Nothing here trains, decodes or evaluates: the pages call the ``cnnlib`` core
for that. This package holds what only a UI needs: cached model loading,
Plotly figures, widget-state persistence across pages and small formatting
helpers. Importing it is cheap (no TensorFlow), so light pages stay fast.
"""
