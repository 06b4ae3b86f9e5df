// File and descriptor stages over the integer host (bytes are lists of byte
// values): files read in chunks and written back with their byte count, a
// pipe or socket that would block makes the island wait on it, a writer
// stops pulling while its socket is full, and I/O errors fail the stream.

#include "atomr/streams/error.hpp"
#include "atomr/streams/interpreter.hpp"
#include "int_host.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

using namespace atomr::streams;
using namespace atomr::streams::testing;

/// A temporary directory removed (with its files) at the end of a test.
class temp_dir {
public:
  temp_dir() {
    char tmpl[] = "/tmp/atomr-streams-io-XXXXXX";
    char* d = ::mkdtemp(tmpl);
    EXPECT_NE(d, nullptr);
    path_ = d != nullptr ? d : "/tmp";
  }
  ~temp_dir() {
    for (const std::string& f : files_) {
      ::unlink(f.c_str());
    }
    ::rmdir(path_.c_str());
  }
  std::string file(const std::string& name) {
    files_.push_back(path_ + "/" + name);
    return files_.back();
  }

private:
  std::string path_;
  std::vector<std::string> files_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void spit(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
}

std::vector<long> bytes_of(const std::string& s) {
  std::vector<long> v;
  for (char c : s) {
    v.push_back(static_cast<unsigned char>(c));
  }
  return v;
}

/// Records each bytes element (a list) as a string.
fn recorder(std::vector<std::string>& out) {
  return fn{{}, {}, {}, [&out](const val& v) -> std::optional<long> {
              out.emplace_back(v.items.begin(), v.items.end());
              return 0;
            }};
}

std::string failure_text(int_host& h, interpreter& in) {
  element f = in.take_failure();
  std::string s = f != nullptr ? int_host::of(f).error : "";
  if (f != nullptr) {
    h.release(f);
  }
  return s;
}

std::string io_code() {
  return std::to_string(static_cast<int>(errc::io)) + ":";
}

TEST(StreamsIo, FileSourceReadsTheFileInChunks) {
  temp_dir dir;
  std::string path = dir.file("in.bin");
  std::string data;
  for (int i = 0; i < 1000; ++i) {
    data.push_back(static_cast<char>(i * 7));
  }
  spit(path, data);
  int_host h;
  std::vector<std::string> got;
  fn record = recorder(got);
  {
    interpreter in(h);
    in.source_file(path, 64);
    in.sink_foreach(&record, nullptr);
    ASSERT_EQ(in.run(100000), outcome::completed);
    h.release(in.take_result());
  }
  std::string joined;
  for (const std::string& c : got) {
    EXPECT_LE(c.size(), 64u);
    joined += c;
  }
  EXPECT_EQ(joined, data);
  EXPECT_EQ(h.live, 0);
}

TEST(StreamsIo, FileSourceOfAMissingFileFailsWithAnIoError) {
  temp_dir dir;
  int_host h;
  std::vector<std::string> got;
  fn record = recorder(got);
  {
    interpreter in(h);
    in.source_file(dir.file("missing.bin"), 64);
    in.sink_foreach(&record, nullptr);
    ASSERT_EQ(in.run(100), outcome::failed);
    std::string why = failure_text(h, in);
    EXPECT_EQ(why.rfind(io_code(), 0), 0u) << why;
    EXPECT_NE(why.find("cannot read"), std::string::npos) << why;
  }
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(h.live, 0);
}

TEST(StreamsIo, FileSourceStopsReadingWhenCancelled) {
  temp_dir dir;
  std::string path = dir.file("big.bin");
  spit(path, std::string(100000, 'x'));
  int_host h;
  std::vector<std::string> got;
  fn record = recorder(got);
  {
    interpreter in(h);
    in.source_file(path, 10);
    in.take(3);
    in.sink_foreach(&record, nullptr);
    ASSERT_EQ(in.run(100000), outcome::completed);
    h.release(in.take_result());
  }
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(h.live, 0);
}

TEST(StreamsIo, FileSinkWritesAppendsAndCountsBytes) {
  temp_dir dir;
  std::string path = dir.file("out.bin");
  int_host h;
  for (bool append : {false, true}) {
    interpreter in(h);
    in.source_single(h.list(bytes_of("hello ")));
    in.source_single(h.list(bytes_of("world")));
    in.concat();
    in.sink_file(path, append);
    ASSERT_EQ(in.run(100), outcome::completed);
    element n = in.take_result();
    EXPECT_EQ(int_host::of(n).v, 11);
    h.release(n);
  }
  EXPECT_EQ(slurp(path), "hello worldhello world");
  EXPECT_EQ(h.live, 0);
}

TEST(StreamsIo, FileSinkThatCannotOpenThrowsAnIoError) {
  int_host h;
  {
    interpreter in(h);
    in.source_empty();
    EXPECT_THROW(in.sink_file("/nonexistent-dir-of-atomr/x.bin", false), io_error);
  }
  EXPECT_EQ(h.live, 0);
}

TEST(StreamsIo, FileSinkFailsOnANonBytesElement) {
  temp_dir dir;
  int_host h;
  {
    interpreter in(h);
    in.source_single(h.make(5));
    in.sink_file(dir.file("out.bin"), false);
    ASSERT_EQ(in.run(100), outcome::failed);
    EXPECT_EQ(failure_text(h, in), "bytes");
  }
  EXPECT_EQ(h.live, 0);
}

TEST(StreamsIo, DescriptorSourceWaitsOnAnEmptyPipeAndCompletesAtItsEnd) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  int_host h;
  std::vector<std::string> got;
  fn record = recorder(got);
  {
    interpreter in(h);
    in.source_fd(fds[0], 16, false, "pipe");
    in.sink_foreach(&record, nullptr);
    ASSERT_EQ(in.run(100), outcome::waiting);
    ASSERT_EQ(in.io_waits().size(), 1u);
    EXPECT_EQ(in.io_waits()[0].fd, fds[0]);
    EXPECT_FALSE(in.io_waits()[0].write);
    ASSERT_EQ(::write(fds[1], "abc", 3), 3);
    ASSERT_EQ(in.run(100), outcome::waiting);
    ASSERT_EQ(got, std::vector<std::string>{"abc"});
    ::close(fds[1]);
    ASSERT_EQ(in.run(100), outcome::completed);
    EXPECT_TRUE(in.io_waits().empty());
    h.release(in.take_result());
  }
  ::close(fds[0]); // borrowed: the island left it open
  EXPECT_EQ(h.live, 0);
}

TEST(StreamsIo, DescriptorSourceReadErrorFailsTheStream) {
  int fd = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC); // reading it is EISDIR
  ASSERT_GE(fd, 0);
  int_host h;
  std::vector<std::string> got;
  fn record = recorder(got);
  {
    interpreter in(h);
    in.source_fd(fd, 16, false, "root");
    in.sink_foreach(&record, nullptr);
    ASSERT_EQ(in.run(100), outcome::failed);
    std::string why = failure_text(h, in);
    EXPECT_EQ(why.rfind(io_code() + "cannot read root: ", 0), 0u) << why;
  }
  ::close(fd);
  EXPECT_EQ(h.live, 0);
}

TEST(StreamsIo, WriterStopsPullingWhileTheSocketIsFullAndShutsDownAtTheEnd) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  int_host h;
  long pulled = 0;
  const long chunks = 2000;
  const std::size_t chunk = 4096;
  fn count{[&pulled](long x) -> std::optional<long> {
             ++pulled;
             return x;
           },
           {},
           {}};
  fn chunked{{}, {}, [&](long) -> std::optional<std::vector<long>> {
               return std::vector<long>(chunk, 'z');
             }};
  std::size_t received = 0;
  {
    interpreter in(h);
    std::vector<long> ids(chunks, 1);
    in.source_iter(h.list(ids)); // `chunks` elements
    in.map(&count, nullptr);
    in.map(&chunked, nullptr); // each a chunk of bytes
    in.write_fd(sv[0], true, "peer");
    in.sink_ignore();
    // nobody reads the peer: the writer stops once the socket is full
    outcome o = in.run(1000000);
    ASSERT_EQ(o, outcome::waiting);
    ASSERT_FALSE(in.io_waits().empty());
    EXPECT_EQ(in.io_waits()[0].fd, sv[0]);
    EXPECT_TRUE(in.io_waits()[0].write);
    EXPECT_LT(pulled, chunks);
    long stalled = pulled;
    EXPECT_EQ(in.run(1000000), outcome::waiting);
    EXPECT_EQ(pulled, stalled); // still full: nothing more pulled
    // drain the peer while running the island until it completes
    std::vector<char> buf(1 << 16);
    for (int round = 0; round < 100000 && o != outcome::completed; ++round) {
      ssize_t n = ::recv(sv[1], buf.data(), buf.size(), MSG_DONTWAIT);
      if (n > 0) {
        received += static_cast<std::size_t>(n);
      }
      o = in.run(1000000);
      ASSERT_NE(o, outcome::failed);
    }
    ASSERT_EQ(o, outcome::completed);
    h.release(in.take_result());
  }
  // the rest, then the end of the stream (the write side was shut down)
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = ::recv(sv[1], buf.data(), buf.size(), 0);
    ASSERT_GE(n, 0);
    if (n == 0) {
      break;
    }
    received += static_cast<std::size_t>(n);
  }
  EXPECT_EQ(received, chunks * chunk);
  EXPECT_EQ(pulled, chunks);
  ::close(sv[0]);
  ::close(sv[1]);
  EXPECT_EQ(h.live, 0);
}

TEST(StreamsIo, WriterToAClosedPeerFailsWithAnIoError) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ::close(sv[1]);
  int_host h;
  {
    interpreter in(h);
    in.source_repeat(h.list(bytes_of("data")));
    in.write_fd(sv[0], true, "gone");
    in.sink_ignore();
    ASSERT_EQ(in.run(100000), outcome::failed);
    std::string why = failure_text(h, in);
    EXPECT_EQ(why.rfind(io_code() + "cannot write gone: ", 0), 0u) << why;
  }
  ::close(sv[0]);
  EXPECT_EQ(h.live, 0);
}

TEST(StreamsIo, WriterMergedWithAReaderEchoesThroughAPeer) {
  // the connection flow's shape: upstream written, the peer's bytes read
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  int_host h;
  std::vector<std::string> got;
  fn record = recorder(got);
  {
    interpreter in(h);
    in.source_single(h.list(bytes_of("ping")));
    in.write_fd(sv[0], true, "peer");
    in.source_fd(sv[0], 64, true, "peer");
    in.merge(false);
    in.sink_foreach(&record, nullptr);
    ASSERT_EQ(in.run(100), outcome::waiting); // written; waits for the reply
    ASSERT_EQ(in.io_waits().size(), 1u);
    EXPECT_FALSE(in.io_waits()[0].write);
    char buf[16];
    ASSERT_EQ(::recv(sv[1], buf, sizeof buf, 0), 4);
    ASSERT_EQ(::recv(sv[1], buf, sizeof buf, 0), 0); // the write side was shut down
    ASSERT_EQ(::send(sv[1], "pong", 4, 0), 4);
    ::shutdown(sv[1], SHUT_WR);
    ASSERT_EQ(in.run(100), outcome::completed);
    h.release(in.take_result());
  }
  EXPECT_EQ(got, std::vector<std::string>{"pong"});
  ::close(sv[0]);
  ::close(sv[1]);
  EXPECT_EQ(h.live, 0);
}

} // namespace
