import { IsString, Length, Matches } from 'class-validator';

export class LoginDto {
  @IsString() @Length(1, 64) username!: string;
  @IsString() @Length(1, 256) password!: string;
}

export class RefreshDto {
  @IsString() @Length(1, 4096) @Matches(/^[A-Za-z0-9._~-]+$/) refresh_token!: string;
}
