// RetortBench: measuring size, load time, memory, speed and quality of models side by side.
