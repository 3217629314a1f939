// A corpus of good-but-odd and hostile photo files, built at test time from the real listing
// photos in houses_dir()/images, plus the byte-level helpers that build them. Nothing here is
// committed as a binary: every file is derived on the fly into a scratch folder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <opencv2/core.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace homelens::testing {

// The byte limit the corpus is classified against: DecodeOptions' default max_bytes.
inline constexpr std::size_t kCorpusMaxBytes = std::size_t{64} << 20;

struct CorpusFile {
  std::string filename;         // inside the corpus folder
  bool good = false;            // whether decode_file() with default options must accept it
  std::string expected_reason;  // bad files: a substring of the error message
  int width = 0;                // good files: decoded size after EXIF orientation
  int height = 0;
};

// Writes the corpus into `dir` (which must exist) and lists it: at least 15 files decode_file()
// must refuse, and good ones covering every format and odd layout. Classified for the default
// DecodeOptions (max_bytes = kCorpusMaxBytes, max_pixels = 100M). The over-the-limit file is
// `oversize_bytes` long but sparse (a JPEG followed by a hole), so it costs no disk or time.
std::vector<CorpusFile> make_photo_corpus(const std::filesystem::path& dir,
                                          std::size_t oversize_bytes = kCorpusMaxBytes + 1);

// ---- Byte builders shared by the corpus and the decode tests.

// Whole file as bytes; throws std::runtime_error when it cannot be read.
std::string read_bytes(const std::filesystem::path& path);
// Writes (replaces) a file; throws std::runtime_error on failure.
void write_bytes(const std::filesystem::path& path, std::string_view bytes);
// cv::imencode to bytes; `ext` like ".png". Throws when OpenCV refuses.
std::string encode_image(const cv::Mat& image, const std::string& ext,
                         const std::vector<int>& params = {});

// CRC-32 (ISO-HDLC, as in PNG chunks and zlib).
std::uint32_t crc32(std::string_view bytes);
// One PNG chunk: length, type, data and a correct CRC.
std::string png_chunk(std::string_view type, std::string_view data);
// A PNG whose IHDR (with a valid CRC) claims width x height, 8-bit RGB, with one tiny IDAT.
std::string png_claiming_size(std::uint32_t width, std::uint32_t height);

// A PNG from raw scanlines (each row led by its filter byte, usually 0), stored uncompressed in
// one IDAT; `extra` chunks (e.g. PLTE, tRNS) go between IHDR and IDAT. For layouts imencode
// cannot write: grey+alpha, palettes with transparency.
std::string png_from_scanlines(std::uint32_t width, std::uint32_t height, int bit_depth,
                               int color_type, std::string_view scanlines,
                               std::string_view extra = {});

// A minimal uncompressed 8-bit greyscale TIFF (IFD first, then one strip) in either byte
// order, with its width and height tags as SHORT or LONG.
std::string gray_tiff(bool big_endian, bool long_sizes, std::uint32_t w, std::uint32_t h,
                      std::string_view pixels);

// The little-endian TIFF block of an EXIF segment holding only IFD0 with Orientation.
std::string exif_tiff_with_orientation(int orientation);
// The JPEG with an APP1 Exif segment carrying `orientation` inserted right after SOI.
std::string with_jpeg_exif_orientation(std::string_view jpeg, int orientation);
// The PNG with an eXIf chunk carrying `orientation` inserted right after IHDR.
std::string with_png_exif_orientation(std::string_view png, int orientation);
// Offset of the first marker segment `marker` (e.g. 0xC0 for SOF0) before the first scan,
// pointing at its 0xFF; npos when absent.
std::size_t find_jpeg_segment(std::string_view jpeg, std::uint8_t marker);

// A four-component JPEG written with libjpeg directly, as Photoshop does: Adobe APP14 marker and
// *inverted* CMYK samples (0 = full ink). `cmyk` is width*height*4 bytes in that stored
// convention. With ycck, libjpeg stores it as Adobe YCCK (transform 2) instead of plain CMYK.
std::string encode_cmyk_jpeg(const std::vector<std::uint8_t>& cmyk, int width, int height,
                             bool ycck = false, int quality = 95);

// Stored (Adobe-inverted) CMYK for an 8-bit BGR image, by the naive K = 1 - max(R,G,B) split.
std::vector<std::uint8_t> bgr_to_adobe_cmyk(const cv::Mat& bgr);

}  // namespace homelens::testing
