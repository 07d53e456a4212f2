using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using RegPS.Engine.Images;

namespace RegPS.Engine.Pipelines;

/// <summary>SHA-256 fingerprints (lower-case hex) of the things a derivative depends on.</summary>
public static class ContentHash
{
    /// <summary>The SHA-256 of a file's bytes.</summary>
    public static string OfFile(string path, CancellationToken ct = default)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        int n;
        while ((n = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            ct.ThrowIfCancellationRequested();
            sha.AppendData(buffer, 0, n);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>
    /// The SHA-256 of an image as the engine sees it: its grid (dimension, shape, grid-to-world matrix, as text with
    /// round-trip precision) then its float32 voxels (little-endian, x fastest, all volumes). Two images hash the same
    /// exactly when they would register the same, whatever file or format they came from.
    /// </summary>
    public static string OfImage(Image image)
    {
        ArgumentNullException.ThrowIfNull(image);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var g = image.Grid;
        var header = new StringBuilder();
        header.Append(CultureInfo.InvariantCulture, $"dim={g.Dimension};shape={string.Join("x", g.Shape)};volumes={image.Volumes};gridToWorld=");
        header.AppendJoin(",", g.GridToWorld.ToRows().SelectMany(r => r).Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        header.Append('\n');
        sha.AppendData(Encoding.UTF8.GetBytes(header.ToString()));
        var voxels = image.Voxels;
        if (BitConverter.IsLittleEndian) sha.AppendData(MemoryMarshal.AsBytes(voxels));
        else
        {
            var b = new byte[4];
            foreach (var v in voxels)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(b, v);
                sha.AppendData(b);
            }
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>The SHA-256 of a string's UTF-8 bytes.</summary>
    public static string OfText(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
