"""Demo code: what Glassbox serves out of the box, and how it was made. Not shipped in the image."""
