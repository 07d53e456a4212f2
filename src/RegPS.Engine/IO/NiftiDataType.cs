namespace RegPS.Engine.IO;

/// <summary>The voxel type a NIfTI file is written with (<see cref="NiftiWriter.Write"/>).</summary>
public enum NiftiDataType
{
    UInt8,
    Int8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Float32,
    Float64,
    /// <summary>Interleaved 8-bit RGB from the image's colour planes (a colour image of one volume only).</summary>
    Rgb24,
    /// <summary>
    /// The type the image was read with (<see cref="Images.Image.DataType"/>): integer types get a scl_slope/scl_inter
    /// that fits the data (the source's own when the values fit it), rgb24/rgba32 sources are written as rgb24,
    /// computed images as float32.
    /// </summary>
    Source,
}
