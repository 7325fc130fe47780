package main

import ("flag";"fmt";"os";"time")

func main() {
	var o fixtureOptions
	flag.StringVar(&o.Dir, "dir", "", "")
	flag.IntVar(&o.N, "n", 1000, "")
	flag.BoolVar(&o.Packed, "packed", false, "")
	flag.Parse()
	o.Exp = "bench"
	t := time.Now()
	if err := buildFixture(o); err != nil { fmt.Fprintln(os.Stderr, err); os.Exit(1) }
	fmt.Println("fixture", time.Since(t))
}
