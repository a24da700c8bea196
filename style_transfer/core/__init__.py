"""What both products stand on: settings, errors, files, pictures, colour, VGG features and the losses."""
