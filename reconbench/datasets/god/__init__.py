"""Generic Object Decoding (Horikawa & Kamitani 2017; OpenNeuro ds001246): layout and loader."""
