using System.Collections;

namespace RegPS.Engine.Images;

/// <summary>
/// A read-only list over an image's voxels (x fastest, then y, z and volume) that shares the image's buffer, so
/// reaching it costs nothing however large the image is. PowerShell, which cannot see a span, gets this as Image.Voxels:
/// <c>$img.Voxels.Length</c>, <c>$img.Voxels[i]</c>, <c>$img.Voxels | Measure-Object -Average</c>.
/// Image.ToArray() makes a writable copy.
/// </summary>
public sealed class VoxelList : IReadOnlyList<float>
{
    private readonly float[] _values;

    internal VoxelList(float[] values) => _values = values;

    /// <summary>Number of voxels (all volumes).</summary>
    public int Length => _values.Length;

    public int Count => _values.Length;

    public float this[int index] => _values[index];

    public IEnumerator<float> GetEnumerator() => ((IEnumerable<float>)_values).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _values.GetEnumerator();

    public override string ToString() => $"{_values.Length} voxels";
}
