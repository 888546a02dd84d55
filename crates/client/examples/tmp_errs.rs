#[tokio::main]
async fn main() {
    for u in ["amqp://guest:SECRETPW@127.0.0.1:9/%2f", "amqp://guest:SECRETPW@127.0.0.1:5673/%2f", "amqp://guest:guest@127.0.0.1:5673/novhost", "not a url SECRETPW", "amqp://guest:SECRETPW@nosuchhost.invalid:5672/%2f"] {
        println!("{:?}", rectoken_client::Client::connect_amqp(u).await.map(|_| ()));
    }
}
