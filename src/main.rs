fn main() {
    println!("outpost");
}
